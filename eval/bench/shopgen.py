"""Synthetic Chinese e-commerce shops from templates we wrote: products × question intents.

Deterministic for a seed. Each entry is (product, intent): a standard question and similar
questions drawn from the intent's KB templates; buyer queries are built from *held-out* templates
plus colloquial prefixes/suffixes, so they paraphrase an entry without repeating any stored string
(a cache keyed on the text cannot cheat, and retrieval has to work).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from knowledge_base.cells import csv_bytes

__all__ = ["Entry", "Query", "Shop", "generate_shop", "generate_queries", "write_csv", "shop_csv_bytes",
           "product_names", "INTENTS"]

_COLOURS = ["白色", "黑色", "藏青", "卡其", "浅灰", "酒红", "米白", "墨绿", "雾蓝", "焦糖", "杏色", "粉色"]
_MATERIALS = ["纯棉", "真丝", "羊毛", "亚麻", "加绒", "冰丝", "莫代尔", "牛仔", "灯芯绒", "羽绒"]
_ITEMS = ["T恤", "衬衫", "卫衣", "连衣裙", "半身裙", "阔腿裤", "牛仔裤", "风衣", "羽绒服", "针织衫",
          "外套", "背心", "睡衣", "短裤", "西装", "毛衣", "马甲", "打底衫", "运动裤", "棉服"]

# intent -> (category, KB templates (first is the standard question), held-out query templates, answer)
INTENTS: dict[str, tuple[str, list[str], list[str], str]] = {
    "ship_time": ("发货时间", ["{p}下单后多久发货？", "{p}什么时候能发货", "{p}几天能发出来", "拍了{p}多久发"],
                  ["{p}啥时候发", "我买的{p}今天能寄出吗", "{p}付款后几天发", "{p}怎么还没发货"],
                  "亲，{p}现货付款后48小时内发货哦～"),
    "size": ("尺码", ["{p}尺码怎么选？", "{p}码数准不准", "{p}穿多大码合适", "{p}偏大还是偏小"],
             ["身高165体重110穿{p}哪个码", "{p}选什么尺码好", "{p}会不会偏小一码", "{p}标准码吗"],
             "亲，{p}是标准码，可参考详情页尺码表选择哦～"),
    "material": ("材质", ["{p}是什么面料？", "{p}材质是什么", "{p}面料舒服吗", "{p}成分含量多少"],
                 ["{p}啥料子的", "{p}的布料怎么样", "{p}起球吗面料好不好", "想问下{p}用的什么料"],
                 "亲，{p}面料柔软亲肤，成分详见吊牌哦～"),
    "return": ("退换货", ["{p}可以七天无理由退换吗？", "{p}不合适能退吗", "{p}能换货吗", "{p}退货怎么操作"],
               ["{p}不喜欢可以退不", "收到{p}不满意能换吗", "{p}退换麻烦吗", "{p}支持换个颜色吗"],
               "亲，{p}支持七天无理由退换，吊牌完好即可～"),
    "postage": ("运费", ["{p}包邮吗？", "{p}运费多少", "{p}偏远地区包邮吗", "{p}退货运费谁出"],
                ["{p}要邮费吗", "买{p}邮费怎么算", "{p}新疆包不包邮", "{p}有运费险吗"],
                "亲，{p}全国包邮（偏远地区除外），赠送运费险哦～"),
    "coupon": ("优惠", ["{p}有优惠券吗？", "{p}能便宜点吗", "{p}有没有折扣", "{p}满减活动怎么参加"],
               ["{p}还能再优惠吗", "{p}有券可以领吗", "{p}多买有优惠不", "{p}什么时候打折"],
               "亲，{p}可领店铺券满199减20，详情页领取哦～"),
    "invoice": ("发票", ["{p}能开发票吗？", "{p}发票怎么开", "{p}可以开专票吗", "{p}电子发票什么时候给"],
                ["买{p}要发票怎么弄", "{p}开票抬头写公司可以吗", "{p}能开增值税发票吗", "{p}的发票在哪看"],
                "亲，{p}支持开具电子发票，确认收货后在订单详情申请～"),
    "quality": ("质量问题", ["{p}有线头怎么办？", "{p}质量有问题怎么处理", "{p}开线了", "{p}收到是坏的"],
                ["{p}破了个洞", "{p}质量太差了", "刚收到的{p}有瑕疵", "{p}拉链坏了咋办"],
                "亲，非常抱歉，{p}有质量问题请拍照发我们，给您包退换～"),
    "wash": ("洗涤保养", ["{p}怎么洗？", "{p}能机洗吗", "{p}洗了会缩水吗", "{p}可以烘干吗"],
             ["{p}能不能放洗衣机", "{p}手洗还是干洗", "{p}洗完会变形不", "{p}掉不掉色"],
             "亲，{p}建议冷水手洗、反面晾干，不可漂白哦～"),
    "stock": ("库存", ["{p}还有货吗？", "{p}什么时候补货", "{p}缺码吗", "{p}断货了吗"],
              ["{p}没货了吗", "{p}M码还有吗", "{p}啥时候到货", "{p}能预定吗"],
              "亲，{p}页面可拍即有货，缺货的码会尽快补上～"),
    "colour": ("色差", ["{p}有色差吗？", "{p}实物和图片一样吗", "{p}颜色正不正", "{p}是实拍图吗"],
               ["{p}图片颜色准不准", "{p}收到会不会跟图不一样", "{p}真实颜色是啥样", "{p}显黑吗"],
               "亲，{p}均为实物拍摄，因显示器不同可能略有色差～"),
    "package": ("包装", ["{p}是什么包装？", "{p}有礼盒吗", "{p}可以送人吗", "{p}包装能去掉价格吗"],
                ["{p}送礼合适吗", "{p}带包装盒不", "{p}能帮忙包成礼物吗", "{p}发货有盒子吗"],
                "亲，{p}统一礼盒包装，可以直接送人哦～"),
    "courier": ("物流", ["{p}发什么快递？", "{p}能发顺丰吗", "{p}快递几天到", "{p}从哪里发货"],
                ["{p}用的哪家快递", "{p}可以指定快递吗", "{p}寄到北京要几天", "{p}发货地是哪"],
                "亲，{p}默认发中通/韵达，补差价可发顺丰～"),
    "price": ("价格保护", ["{p}降价了能补差价吗？", "{p}保价吗", "{p}买贵了怎么办", "{p}价格会降吗"],
              ["刚买的{p}就降价了", "{p}保价多少天", "{p}差价能退吗", "{p}现在买划算吗"],
              "亲，{p}支持15天价保，降价可申请退差价～"),
    "gift": ("赠品", ["{p}有赠品吗？", "{p}送什么", "{p}赠品怎么领", "{p}买二送一吗"],
             ["买{p}送东西吗", "{p}有小礼物吗", "{p}赠品漏发了", "{p}活动送的啥"],
             "亲，{p}下单即送精美小礼品一份，随单发出～"),
    "address": ("修改地址", ["{p}能改地址吗？", "{p}地址填错了", "{p}收货地址怎么修改", "{p}能改收件人吗"],
                ["买{p}地址写错了咋办", "{p}能换个地址寄吗", "{p}下单后还能改地址不", "{p}电话填错了"],
                "亲，{p}未发货前可以修改地址，请把新地址发给我～"),
    "presale": ("预售", ["{p}是预售吗？", "{p}预售多久发", "{p}是现货吗", "{p}要等多久"],
                ["{p}现货还是预售", "{p}拍了要等几天", "{p}有现货吗急用", "{p}预售能退吗"],
                "亲，{p}为现货，个别颜色预售7天内发出～"),
    "genuine": ("正品", ["{p}是正品吗？", "{p}是不是假货", "{p}有防伪吗", "{p}是官方的吗"],
                ["{p}保真吗", "{p}会不会是仿的", "{p}质量有保证吗正品吗", "{p}是品牌直营吗"],
                "亲，{p}为品牌官方正品，支持专柜验货～"),
    "shrink": ("缩水", ["{p}会缩水吗？", "{p}洗后变小吗", "{p}缩不缩", "{p}需要买大一码吗"],
               ["{p}洗了会缩吗", "{p}下水会变小不", "{p}缩水严重吗", "{p}洗几次会缩"],
               "亲，{p}经过预缩处理，正常洗涤不会明显缩水～"),
    "model": ("模特", ["{p}模特穿的什么码？", "{p}模特多高", "{p}模特身高体重多少", "{p}上身效果怎么样"],
              ["{p}模特穿的哪个尺码", "{p}模特是多大码", "{p}穿上啥效果", "{p}显瘦吗"],
              "亲，{p}模特身高170体重50kg，穿S码～"),
}
_PREFIXES = ["", "", "亲，", "你好，", "请问", "在吗？", "客服，", "问一下，", "老板，"]
_SUFFIXES = ["", "", "？", "呀", "啊", "呢", "？？", "～", "谢谢"]


@dataclass(frozen=True)
class Entry:
    id: str
    question: str
    similar: tuple[str, ...]
    answer: str
    category: str


@dataclass(frozen=True)
class Query:
    message: str
    entry_id: str  # the entry a correct suggestion names first


@dataclass
class Shop:
    shop_id: str
    entries: list[Entry]
    products: list[str]

    @property
    def phrasings(self) -> int:
        return sum(1 + len(e.similar) for e in self.entries)


def product_names(rng: random.Random, n: int) -> list[str]:
    """``n`` distinct product names (colour + material + item), in a seeded order."""
    combos = [c + m + i for c in _COLOURS for m in _MATERIALS for i in _ITEMS]
    if n > len(combos):
        raise ValueError(f"at most {len(combos)} distinct products, asked for {n}")
    rng.shuffle(combos)
    return combos[:n]


def generate_shop(shop_id: str, entries: int, phrasings: int = 4, *, seed: int = 0) -> Shop:
    """A shop of ``entries`` FAQ entries with ``phrasings`` phrasings each (1 standard + similar)."""
    if not 1 <= phrasings <= 4:
        raise ValueError("phrasings must be 1..4 (each intent has 4 KB templates)")
    rng = random.Random(f"{seed}:{shop_id}")
    intents = list(INTENTS)
    products = product_names(rng, -(-entries // len(intents)))
    out: list[Entry] = []
    for i in range(entries):
        product, intent = products[i // len(intents)], intents[i % len(intents)]
        category, kb_templates, _held_out, answer = INTENTS[intent]
        texts = [t.format(p=product) for t in kb_templates[:phrasings]]
        out.append(Entry(id=f"E{i + 1:05d}", question=texts[0], similar=tuple(texts[1:]),
                         answer=answer.format(p=product), category=category))
    return Shop(shop_id=shop_id, entries=out, products=products)


def generate_queries(shop: Shop, n: int, *, seed: int = 0) -> list[Query]:
    """``n`` buyer messages paraphrasing random entries with held-out templates (no stored string)."""
    rng = random.Random(f"{seed}:{shop.shop_id}:queries")
    intents = list(INTENTS)
    stored = {t for e in shop.entries for t in (e.question, *e.similar)}
    out: list[Query] = []
    while len(out) < n:
        i = rng.randrange(len(shop.entries))
        product, intent = shop.products[i // len(intents)], intents[i % len(intents)]
        body = rng.choice(INTENTS[intent][2]).format(p=product)
        message = rng.choice(_PREFIXES) + body + rng.choice(_SUFFIXES)
        if message in stored:
            continue
        out.append(Query(message=message, entry_id=shop.entries[i].id))
    return out


def shop_csv_bytes(shop: Shop) -> bytes:
    """The shop as the product's FAQ CSV (the service's CSV writer; similar questions split by ``|``)."""
    return csv_bytes(["编号", "标准问题", "相似问题", "答案", "分类", "状态"],
                     [[e.id, e.question, "|".join(e.similar), e.answer, e.category, "启用"] for e in shop.entries])


def write_csv(shop: Shop, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(shop_csv_bytes(shop))
    return path
