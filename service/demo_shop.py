"""The demo shop (``serve --demo``): the bundled FAQ, example quick phrases and auto-reply rules, and
an agent and an admin key written to ``<data_dir>/demo-keys.json`` (a local development convenience:
that file holds secrets)."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from knowledge_base.importer import ImportResult, file_digest
from knowledge_base.keys import KeyRing
from knowledge_base.quick_phrases import QuickPhraseBook
from knowledge_base.rulebook import RuleBook
from knowledge_base.rules import rule_from_spec
from knowledge_base.store import KbStore
from knowledge_base.uploads import Uploads

__all__ = ["DemoShop", "DEMO_SHOP_ID", "DEMO_FAQ_PATH"]

logger = logging.getLogger(__name__)

DEMO_SHOP_ID = "demo"
DEMO_FAQ_PATH = Path(__file__).resolve().parent.parent / "knowledge_base" / "demo" / "demo_shop.csv"
# Team-written examples, so the consoles and the README's explain example show something at once.
DEMO_QUICK_PHRASES_PATH = DEMO_FAQ_PATH.with_name("demo_quick_phrases.csv")
DEMO_RULES_PATH = DEMO_FAQ_PATH.with_name("demo_rules.json")


class DemoShop:
    def __init__(self, store: KbStore, keys: KeyRing, uploads: Uploads, quick_phrases: QuickPhraseBook,
                 rules: RuleBook, *, encoder_id: str, keys_path: Path) -> None:
        self.store = store
        self.keys = keys
        self.uploads = uploads
        self.quick_phrases = quick_phrases
        self.rules = rules
        self.encoder_id = encoder_id
        self.keys_path = keys_path

    def ensure_keys(self, path: Path | None = None) -> dict[str, str]:
        """Agent and admin keys of the demo shop, created once and kept in ``keys_path``."""
        path = path or self.keys_path
        if path.exists():
            try:
                saved = json.loads(path.read_text("utf-8"))
                if all(self.keys.verify(saved.get(k, "")) for k in ("agent", "admin")):
                    return saved
            except ValueError:
                pass
        keys = {"shop_id": DEMO_SHOP_ID,
                "agent": self.keys.create(DEMO_SHOP_ID, ["agent"], name="demo agent (serve --demo)").key,
                "admin": self.keys.create(DEMO_SHOP_ID, ["admin"], name="demo admin (serve --demo)").key}
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(keys, indent=2) + "\n", "utf-8")
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
        logger.info("demo shop keys written to %s (agent key %s…, admin key %s…)", path, keys["agent"][:12],
                    keys["admin"][:12])
        return keys

    def ensure(self) -> ImportResult | None:
        """Import the bundled demo FAQ unless the demo shop already serves this exact file; give the
        shop the example quick phrases and auto-reply rules the first time (never over the merchant's)."""
        self.ensure_keys()
        result = self._ensure_faq()
        if self.store.current_revision(DEMO_SHOP_ID, "quick_phrases") is None:
            self.quick_phrases.import_file(DEMO_SHOP_ID, DEMO_QUICK_PHRASES_PATH.name,
                                           DEMO_QUICK_PHRASES_PATH.read_bytes())
        if self.store.current_revision(DEMO_SHOP_ID, "rules") is None:
            for spec in json.loads(DEMO_RULES_PATH.read_text("utf-8")):
                self.rules.create(DEMO_SHOP_ID, rule_from_spec(spec["id"], spec))
        return result

    def _ensure_faq(self) -> ImportResult | None:
        data = DEMO_FAQ_PATH.read_bytes()
        marker = f"sha256:{file_digest(data)[:16]}"
        if self.store.shop_exists(DEMO_SHOP_ID):
            active = self.store.active_version(DEMO_SHOP_ID)
            if active is not None:
                current = self.store.get_version(DEMO_SHOP_ID, active)
                if current.source.endswith(marker) and current.encoder_id == self.encoder_id:
                    logger.info("demo shop already serves %s (version %d)", DEMO_FAQ_PATH.name, active)
                    return None
        return self.uploads.import_file(DEMO_SHOP_ID, DEMO_FAQ_PATH.name, data)
