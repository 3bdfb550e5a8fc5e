"""Escalation: buyer messages a person must handle now (anger, insults, complaints and threats to
report, refund or delivery disputes, safety incidents, asks left unanswered).

Three parts, each cheap enough for the suggestion path (together well under 0.1 ms a message):

- a **lexicon** of cues per reason, run over the normalised message. *Strong* cues ("12315",
  "烫伤了", "凭什么拒绝退款") escalate on their own; *weak* ones ("气死", "无语", "会不会过敏") only
  with the model's agreement. A cue right after a negation ("我不会给差评") or followed by a resolved
  context ("投诉的事已经解决了") does not count; a safety cue inside a question or a hypothetical
  ("孕妇能用吗", "会不会过敏") is only weak.
- an **EscalationModel**: multinomial logistic regression over the message vector the pipeline has
  already computed (no second encoder call), trained on messages the team wrote
  (``smartreply train escalation``). It catches what no cue names: sarcasm, polite but serious
  complaints, calm reports of harm.
- the **conversation**: the same buyer asking again and again without an answer (from ``turns``).

The model is an estimator in the scikit-learn sense (``fit`` → learned attributes ending in ``_``,
``predict_proba`` refuses an unfitted model) stored as ``escalation.npz`` + ``manifest.json`` (never
pickle); the manifest names the encoder and carries the two decision thresholds tuned on the dev set.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from models.errors import ArtifactMismatch, SmartReplyError
from models.linear import fit_softmax, load_model_folder, save_model_folder, softmax_proba

__all__ = [
    "REASONS", "LEVELS", "EscalationReason", "Escalation", "EscalationModel", "EscalationDetector", "Cue",
    "lexicon_hits", "repeated_ask", "ESCALATION_FORMAT", "keyword_baseline",
]

ESCALATION_FORMAT = "smartreply-escalation/1"

# Reason codes, in the order they are reported. ``report_threat`` is a complaint that names where the
# buyer will take it (投诉, 12315, 差评, 曝光 …).
REASONS = ("safety", "report_threat", "insult", "anger", "complaint", "refund_dispute", "delivery_dispute",
           "repeated_ask")
LEVELS = ("medium", "high")
# A person must see these at once; the others within the normal reply time, never by auto-reply.
_HIGH = frozenset({"safety", "report_threat", "insult"})


@dataclass(frozen=True)
class EscalationReason:
    code: str  # one of REASONS
    source: str  # lexicon | model | conversation
    evidence: str = ""  # the cue found in the message (lexicon), or what was counted (conversation)
    score: float = 1.0  # the model's probability of escalation; 1.0 for a cue


@dataclass(frozen=True)
class Escalation:
    level: str  # medium | high
    reasons: tuple[EscalationReason, ...]

    @property
    def codes(self) -> list[str]:
        return list(dict.fromkeys(r.code for r in self.reasons))


# -- the lexicon --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Cue:
    code: str
    pattern: re.Pattern[str]
    strong: bool = True
    question_weakens: bool = False  # inside a question / hypothetical the cue is only weak (safety)


def _cues(code: str, strong: Iterable[str], weak: Iterable[str] = (), *, question_weakens: bool = False) -> list[Cue]:
    out = [Cue(code, re.compile(p), True, question_weakens) for p in strong]
    out += [Cue(code, re.compile(p), False, question_weakens) for p in weak]
    return out


# Patterns run over normalize_text output: simplified, lower case, NFKC (so full-width "！" is "!").
LEXICON: tuple[Cue, ...] = (
    *_cues("insult", [
        r"傻[逼比b×x]|煞笔|沙比|(?<![a-z])sb(?![a-z])|脑残|弱智|智障|白痴|人渣|畜生|王八|狗东西|狗屁|狗日|"
        r"他妈|tmd|尼玛|妈的|去死|死全家|贱人",
        r"(?<![一翻])滚(吧|蛋|开|远点|出去|犊子|!|$)|给我滚|^滚(吧|蛋|开|!|,|$)",
        r"你(们)?(是)?(头)?猪|猪脑|蠢(货|猪|蛋|死了)|你(们)?.{0,3}蠢",
        r"(听不懂|不说|说句|说)人话|听不懂中国话",
        r"(你|你们|都|是不是|真是)[^,.!?]{0,4}有(病|毛病)|有病吧|神经病",
        r"脑子(有病|有问题|进水|坏了|被.踢)|没长脑子|智商.{0,2}(欠费|不够|有问题)",
        r"吃干饭|要你(们)?(何用|有什么用|干嘛|干什么|有何用)",
        r"骗子|黑店|奸商|吸血鬼|不要脸|无耻|土匪|强盗|混子|人渣",
        r"良心(被狗|不会痛|坏|何在|呢)|(心|你们)真黑|没长心",
        r"废物",
    ], question_weakens=False),
    *_cues("anger", [
        r"受够|忍无可忍|欺人太甚|太过分|火冒三丈|火大|气炸|失望透顶|糟心|倒了大霉",
        r"非常生气|很生气",
        r"什么(破|烂)|破(东西|玩意|衣服|鞋|货|质量|手机壳|东东|店)|烂(货|东西|透了)|垃圾(东西|质量|产品|货|玩意)",
        r"坑(人|爹|死|钱)|被坑|太坑|黑心",
        r"(别|不要)(再)?(敷衍|装死|拖|让我等|跟我说亲|说抱歉)|敷衍(我|了事)",
        r"什么鬼|什么玩意|搞什么|有完没完|耍我|当我(是)?傻|别逼我|我的耐心",
        r"拉黑|再也不(会)?(买|来|在你们)|迟早倒闭|买罪受",
        r"今天(必须|非要|非得)",
    ], [
        r"气死|气人|气得|无语|服了|醉了|烦死|崩溃|生气|后悔|失望|离谱|恶心|吐了|到底|摆设|笑死|呵呵|真行",
    ]),
    *_cues("complaint", [
        r"假货|高仿|a货|翻新(机|货)|二手(的|货)|被(人)?(穿|用)过|激活记录|拆过",
        r"虚假宣传|欺诈|欺骗|骗(人|钱|我)|诈骗|调包|货不对板|严重不符|完全不(一样|符)|(根本)?不是(一个|一回)(东西|事)",
        r"(找|叫|换)(你们)?(的)?(店长|老板|主管|经理|领导|负责人|管理人员)|转给能",
        r"踢皮球|推来推去|不守信|不讲信用|说话不算|误导",
        r"(给|要)(我)?(个|一个)?(合理的)?(说法|解释|交代)|赔偿|假一赔|维权",
        r"态度(太|很|极其|非常|真)?(差|恶劣|不好)|什么服务|服务(太|真)?(差|烂)|服务态度",
        r"不满(意)?|不能接受|难以接受|不合理",
        r"三番五次",
    ], [
        r"反映|第[二三四五六七八九十]次|又(发错|少发|是这样|坏)|正品|套路|老顾客|说好的|承诺",
    ]),
    *_cues("report_threat", [
        r"12315|12345|消协|消费者协会|工商(局|部门)?|市场监(管|督)",
        r"投诉|举报|曝光|起诉|(告|告到)你们|律师|法院|报警|媒体|记者|上热搜|黑猫",
        r"(给|打|写|送)[^,.!?]{0,3}(差评|一星|1星|零星)|差评(走起|预定|警告|伺候|已经写好|写好|等着|并)|必(须)?(给)?差评|"
        r"(如实|真实)[^,.!?]{0,6}(评价|写)|评价里[^,.!?]{0,4}写|写在评价|评论区[^,.!?]{0,4}(说明|写)",
        r"发(到)?(网上|微博|小红书|抖音|朋友圈)|网上让大家|评评理",
        r"平台(介入|客服|投诉|来|处理|判断)|(找|向|请|申请)(平台|官方|抖音|小二)|(抖音|官方)(小二|客服|聊聊)|申请介入|"
        r"向[^,.!?]{0,8}(反映|举报)|相关部门|封(店|了你们)",
    ]),
    *_cues("refund_dispute", [
        r"(拒绝|驳回|不同意|不给|不让|不肯|不予)(我的?)?(退款|退货|退)|退款[^,.!?]{0,4}(被拒|被驳回|被关闭|拒绝)|"
        r"(关闭|撤销)了?(我的)?退款|退款申请[^,.!?]{0,4}(关闭|驳回|拒)",
        r"凭什么(不退|拒绝|扣|说)|扣(了)?(我)?(的)?(钱|运费|手续费|款)|退(款)?(少了|不全)|只退(了)?(一半|一部分|部分)|"
        r"少退|(退|退款)[^,.!?]{0,8}少了|部分退款|不接受[^,.!?]{0,4}退|全额退款",
        r"退款[^,.!?]{0,8}(一个月|半个月|几周|两周|三周|二十天|十天|一周)|"
        r"(签收|收到)(了)?(退货)?[^,.!?]{0,8}(天|周)[^,.!?]{0,8}(不退|没退|还没|没有到账|不打款)|"
        r"同意退款[^,.!?]{0,6}(没|撤销)|钱(呢|还没退|没退)|又说不能",
        r"(说|称)[^,.!?]{0,4}(没收到|有损坏|是空的)[^,.!?]{0,8}(寄|快递|签收|视频)",
    ]),
    *_cues("delivery_dispute", [
        r"(签收|派送成功|已送达|显示送达|已派送)[^!?]{0,10}(没(有)?(收到|拿到|见到|见着|人|到我手)|根本)|"
        r"没(有)?(收到|拿到)[^,.!?]{0,8}(签收|送达)|怎么就签收|被[^,.!?]{0,2}签收",
        r"冒领|丢件|(包裹|快递|东西|件)(被)?(弄)?丢了|丢了[^,.!?]{0,4}(谁|负责)|被偷|东西没了|(盒|箱)子?(是|里)?空的",
        r"虚假发货|假(的)?(单号|发货)|单号[^,.!?]{0,6}(假|查不到)|跑路",
        # A week or more: a shorter wait is a routine 催发货 / 物流查询.
        r"((?<![0-9一二两三四五六])(七|八|九|十|十几|十多|二十|[7-9]|[1-9][0-9])天|半个月|一个月|两个?月|两周|两个星期|"
        r"一周|一个星期|好几周)[^,.!?]{0,6}(不动|没(有)?更新|没动|还没发|没发货|不发货|还没到|连影子)",
        r"没拒收|私自[^,.!?]{0,4}(放|签收)|快递员[^,.!?]{0,8}(骂|威胁|态度恶劣|态度太差)|(只|就)(到|收到)了?(一|1)(件|箱)",
    ]),
    *_cues("safety", [
        r"过敏(了|反应)|起(了)?(一片|好多|很多|一圈)?(红)?(疹|包|泡|水泡)|红疹|湿疹|荨麻疹|疹子|红肿|肿(了|起来|得)|水泡",
        r"刺痛|烫伤|烧伤|灼伤|割(伤|破|到)|划(伤|破)|受伤|摔伤|流(了)?(好多)?血|出血",
        r"触电|漏电|(被)?电(到|了一下)|麻了一下|冒(烟|火花|黑烟)|火花|起火|着火|自燃|(?<!到)爆(炸|了)|(?<![到裂])炸(了|开|裂)|"
        r"鼓包|鼓起来|胀(袋|包)|鼓的|烧焦|焦(糊)?味",
        r"中毒|拉肚子|腹泻|呕吐|吐了|肚子(疼|痛)|心慌|头晕|头疼|恶心想吐|"
        r"喉咙(痒|痛|肿)|嘴(唇|巴)?[^,.!?]{0,2}(肿|麻)|睁不开|掉了一大把",
        r"发霉|霉(味|点|变)|长毛|变质|胀袋|过期[^,.!?]{0,6}(吃|喝|用)|(吃|喝)(出|到)(了)?[^,.!?]{0,2}(虫|玻璃|铁丝|异物|渣)|"
        r"虫子|(吞|咽)(下|了|进)|误(食|吞|服)|咬破|卡(住|在)?喉咙|窒息|放进嘴",
        r"(去|在|送|住|进|到)(了)?(医院|急诊)|急诊|看医生|就医|差点(摔|着火|吞|出事)|摔(倒|下来|伤)|失灵|失控|"
        r"有毒|卡进去|夹到",
    ], question_weakens=True),
)

# A negation just before a cue ("我不会给差评", "没让我去投诉", "不是要投诉") cancels it; "不然我就投诉",
# "不给退款就差评" do not (the negation is not attached to the cue).
_NEGATED = re.compile(r"(不|没有?|别|无需|从不|从没|并没|也不)(会|想|是|要|打算|用|给|去|必|再|让我去|让我|算)?[^,.!?]{0,1}$")
# "是不是 / 会不会 / 有没有" ask a question; they negate nothing.
_A_NOT_A = re.compile(r"(.)[不没]\1")
# Context after a report word that says it is over ("投诉的事已经解决了", "投诉已经撤销").
_RESOLVED = re.compile(r"^[^!?]{0,12}(解决了|撤销|撤回|处理好|处理得很好|已处理)")
# A safety cue inside a question or a hypothetical is pre-sale worry, not an incident.
_HYPOTHETICAL_BEFORE = re.compile(r"(会不会|会|能不能|可不可以|是否|有没有|怕|担心|防|避免|容易|体质|如果|万一|要是|敏感肌?|提前)[^,.!?]{0,4}$")
_QUESTION_AFTER = re.compile(r"^[^,.!?]{0,4}(吗|么|嘛|不)")


@dataclass(frozen=True)
class LexiconHit:
    code: str
    strong: bool
    text: str  # the matched cue
    negated: bool = False  # the cue was found but negated or resolved: it speaks against its reason


def lexicon_hits(text: str, lexicon: Sequence[Cue] = LEXICON) -> list[LexiconHit]:
    """Every cue of ``lexicon`` found in the normalised ``text``: a cue is strong only if no match of
    it was weakened; cues found only negated or resolved come last with ``negated=True``."""
    found: dict[tuple[str, bool], str] = {}
    negated: dict[str, str] = {}
    for cue in lexicon:
        for m in cue.pattern.finditer(text):
            before, after = text[max(0, m.start() - 6):m.start()], text[m.end():m.end() + 14]
            if _NEGATED.search(_A_NOT_A.sub("", before)) or cue.code == "report_threat" and _RESOLVED.search(after):
                negated.setdefault(cue.code, m.group(0))
                continue
            strong = cue.strong
            if strong and cue.question_weakens and (_HYPOTHETICAL_BEFORE.search(before) or _QUESTION_AFTER.search(after)):
                strong = False
            found.setdefault((cue.code, strong), m.group(0))
    out = [LexiconHit(code, True, t) for (code, strong), t in found.items() if strong]
    strong_codes = {h.code for h in out}
    out += [LexiconHit(code, False, t) for (code, strong), t in found.items() if not strong and code not in strong_codes]
    seen = {h.code for h in out}
    out += [LexiconHit(code, False, t, negated=True) for code, t in negated.items() if code not in seen]
    return out


# -- the conversation: asks left without an answer ----------------------------------------------
_GREETING = re.compile(r"^(你好|您好|在吗|在不在|在么|亲|hello|hi|有人吗|有人没|客服|喂|哈喽|[?!.,~\s])+$")
# A message that chases an earlier one ("在吗", "人呢", "回复一下", "？").
_CHASER = re.compile(r"在吗|在不在|在么|人呢|有人吗|有人没|有人在|还在|回复|回一下|回我|理(一下)?我|没人理|怎么没人|"
                     r"喂|\?|急|快点|客服")
_PUNCT = re.compile(r"[\s,.!?、…:;\"'“”‘’()\[\]【】~]+")


def _plain(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().lower()


def _is_greeting(text: str) -> bool:
    t = _plain(text)
    return not t or bool(_GREETING.match(t))


def _bigrams(text: str) -> set[str]:
    t = _PUNCT.sub("", _plain(text))
    return {t[i:i + 2] for i in range(len(t) - 1)} or ({t} if t else set())


def _similar(a: set[str], b: set[str]) -> bool:
    return bool(a and b) and len(a & b) / len(a | b) >= 0.4


def repeated_ask(message: str, turns: Sequence[tuple[str, str]], *, run: int = 3,
                 times: Sequence[float | None] | None = None, at: float | None = None,
                 wait_seconds: float = 60.0) -> str | None:
    """Why this message is one more of repeated unanswered asks, or None.

    ``turns`` are (role, text) of the earlier turns, oldest first; ``times`` their epoch seconds and
    ``at`` the message's, when the caller knows them. Two patterns:

    - ``run`` or more buyer messages since the agent last spoke, counted from the first that asks
      something (a "你好 / 在吗" opening is no ask), and the buyer is chasing: a later one is a
      chaser ("在吗", "人呢", "？", "回复一下") or repeats an earlier one, or, with times, the first
      ask is ``wait_seconds`` old. Several quick lines that make one question are not chasing.
    - the same question asked ``run`` times in the conversation: the replies did not answer it.
    """
    start = len(turns)
    while start > 0 and turns[start - 1][0] == "buyer":
        start -= 1
    pending = [t for _, t in turns[start:]] + [message]
    first_ask = next((i for i, t in enumerate(pending) if not _is_greeting(t)), len(pending))
    asks = pending[first_ask:] if first_ask < len(pending) else pending
    if len(asks) >= run:
        grams = [_bigrams(t) for t in asks]
        chased = any(_CHASER.search(_plain(t)) or any(_similar(g, h) for h in grams[:i])
                     for i, (t, g) in enumerate(zip(asks, grams)) if i > 0)
        waited = False
        if times is not None and at is not None and first_ask < len(pending) - 1:
            first_time = times[start + first_ask] if start + first_ask < len(times) else None
            waited = first_time is not None and at - first_time >= wait_seconds
        if chased or waited:
            return f"{len(pending)} buyer messages without a reply"
    if _is_greeting(message):
        return None
    mine = _bigrams(message)
    same = 1 + sum(1 for role, text in turns if role == "buyer" and _similar(mine, _bigrams(text)))
    if same >= run:
        return f"asked {same} times"
    return None


# -- the learned part ---------------------------------------------------------------------------
class NotFitted(SmartReplyError, ValueError):
    code = "not_fitted"


class EscalationModel:
    """P(reason | message vector): multinomial logistic regression; class ``none`` = no escalation.

    ``threshold_`` (escalate on the model alone) and ``weak_threshold_`` (escalate when a weak cue
    agrees) are set by ``tune`` on labelled dev data, never on the data the model was fit on.
    """

    NONE = "none"

    def __init__(self, C: float = 16.0, max_iter: int = 3000, class_weight: str | None = None,
                 random_state: int = 0) -> None:
        self.C = C
        self.max_iter = max_iter
        self.class_weight = class_weight
        self.random_state = random_state

    def fit(self, vectors: np.ndarray, labels: Sequence[str]) -> EscalationModel:
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or len(vectors) != len(labels):
            raise ValueError(f"vectors {vectors.shape} and {len(labels)} labels do not match")
        if self.NONE not in labels or len(set(labels)) < 2:
            raise ValueError("an escalation model needs 'none' examples and at least one reason")
        self.classes_, self.coef_, self.intercept_ = fit_softmax(
            vectors, labels, C=self.C, max_iter=self.max_iter, class_weight=self.class_weight,
            random_state=self.random_state)
        self.none_index_ = int(np.flatnonzero(self.classes_ == self.NONE)[0])
        self.threshold_ = 0.5
        self.weak_threshold_ = 0.5
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise NotFitted("this EscalationModel is not fitted yet; call fit() or load() first")

    def predict_proba(self, vectors: np.ndarray) -> np.ndarray:
        self._check_fitted()
        return softmax_proba(vectors, self.coef_, self.intercept_)

    def score(self, vector: np.ndarray) -> tuple[float, str]:
        """(P(escalate), the most likely reason) of one L2-normalised vector."""
        proba = self.predict_proba(vector[None, :])[0]
        p_none = float(proba[self.none_index_])
        proba[self.none_index_] = -1.0
        return 1.0 - p_none, str(self.classes_[int(proba.argmax())])

    def save(self, folder: Path, *, encoder_id: str, metadata: dict[str, Any] | None = None) -> Path:
        """Write ``escalation.npz`` + ``manifest.json`` into ``folder`` atomically."""
        self._check_fitted()
        return save_model_folder(folder, "escalation.npz", {"coef": self.coef_, "intercept": self.intercept_}, {
            "format": ESCALATION_FORMAT, "encoder_id": encoder_id, "classes": self.classes_.tolist(),
            "dim": int(self.coef_.shape[1]), "threshold": self.threshold_, "weak_threshold": self.weak_threshold_,
            "params": {"C": self.C, "max_iter": self.max_iter, "class_weight": self.class_weight,
                       "random_state": self.random_state},
            "created_at": datetime.now(UTC).isoformat(), **(metadata or {}),
        })

    @classmethod
    def load(cls, folder: Path, *, encoder_id: str) -> EscalationModel:
        manifest, arrays = load_model_folder(folder, "escalation.npz", fmt=ESCALATION_FORMAT, encoder_id=encoder_id,
                                             what="escalation model", command="smartreply train escalation")
        coef, intercept = arrays["coef"], arrays["intercept"]
        params = manifest.get("params", {})
        model = cls(**{k: params[k] for k in ("C", "max_iter", "class_weight", "random_state") if k in params})
        model.classes_ = np.array(manifest["classes"], dtype=str)
        if coef.shape != (len(model.classes_), manifest["dim"]) or cls.NONE not in model.classes_:
            raise ArtifactMismatch(f"{folder}: weights {coef.shape} do not match classes {manifest['classes']}")
        model.coef_, model.intercept_ = coef, intercept
        model.none_index_ = int(np.flatnonzero(model.classes_ == cls.NONE)[0])
        model.threshold_ = float(manifest["threshold"])
        model.weak_threshold_ = float(manifest["weak_threshold"])
        model.manifest_ = manifest
        return model


# -- the detector -------------------------------------------------------------------------------
@dataclass
class EscalationDetector:
    """Lexicon + model + conversation → ``Escalation`` or None. ``model`` may be None (lexicon only:
    weak cues then never escalate); ``use_lexicon=False`` is the model-only ablation."""

    model: EscalationModel | None = None
    lexicon: Sequence[Cue] = field(default=LEXICON)
    use_lexicon: bool = True
    repeat_run: int = 3

    def detect(self, text: str, vector: np.ndarray | None = None, turns: Sequence[tuple[str, str]] = (), *,
               times: Sequence[float | None] | None = None, at: float | None = None) -> Escalation | None:
        """``text`` is the normalised message, ``vector`` its L2-normalised embedding (without context),
        ``turns`` the earlier (role, text) turns, oldest first, ``times`` / ``at`` their and the
        message's epoch seconds when known."""
        reasons: list[EscalationReason] = []
        hits = lexicon_hits(text, self.lexicon) if self.use_lexicon else []
        p_escalate, model_code = (0.0, "")
        if self.model is not None and vector is not None:
            p_escalate, model_code = self.model.score(vector)
        weak_confirmed = self.model is not None and p_escalate >= self.model.weak_threshold_
        for hit in hits:
            if not hit.negated and (hit.strong or weak_confirmed):
                reasons.append(EscalationReason(hit.code, "lexicon", hit.text))
        # An explicit "不是要投诉" / "投诉的事已经解决了" outweighs the model reading 投诉 into it.
        vetoed = {h.code for h in hits if h.negated}
        if model_code in vetoed and not reasons:
            p_escalate = 0.0
        if self.model is not None and p_escalate >= self.model.threshold_ or (reasons and weak_confirmed):
            if not any(r.code == model_code for r in reasons):
                reasons.append(EscalationReason(model_code, "model", "", round(p_escalate, 4)))
        repeat = repeated_ask(text, turns, run=self.repeat_run, times=times, at=at) if turns else None
        if repeat is not None:
            reasons.append(EscalationReason("repeated_ask", "conversation", repeat))
        if not reasons:
            return None
        reasons.sort(key=lambda r: REASONS.index(r.code))
        codes = {r.code for r in reasons}
        level = "high" if codes & _HIGH or len(codes) >= 2 else "medium"
        return Escalation(level=level, reasons=tuple(reasons))


# -- the baseline the evaluation compares with --------------------------------------------------
# What a merchant would type into a keyword rule: plain substrings, no negation, no context.
BASELINE_KEYWORDS: dict[str, tuple[str, ...]] = {
    "report_threat": ("投诉", "12315", "差评", "举报", "曝光", "消协", "工商", "律师", "起诉", "平台介入", "报警"),
    "insult": ("傻逼", "sb", "骗子", "垃圾", "废物", "滚", "有病", "脑残", "脑子", "白痴", "智障", "妈的"),
    "anger": ("气死", "过分", "受够", "生气", "受不了", "破", "坑", "烂", "敷衍", "失望"),
    "complaint": ("假货", "虚假", "欺骗", "说法", "负责人", "态度差", "态度太差", "骗"),
    "refund_dispute": ("拒绝退款", "不给退", "驳回", "扣钱", "扣运费", "凭什么"),
    "delivery_dispute": ("没收到", "丢件", "丢了", "虚假发货", "冒领"),
    "safety": ("过敏", "疹", "红肿", "烫伤", "受伤", "流血", "漏电", "冒烟", "着火", "爆炸", "中毒", "拉肚子", "吐",
               "发霉", "虫", "医院"),
}


def keyword_baseline(text: str, turns: Sequence[tuple[str, str]] = ()) -> list[str]:
    """Reason codes whose keyword occurs in ``text`` (the keyword baseline; ``turns`` unused)."""
    return [code for code, words in BASELINE_KEYWORDS.items() if any(w in text for w in words)]
