"""Webhook signing secrets sealed at rest, and where their key comes from: `ANTQ_NOTIFY_SECRET_KEYS`, else a key
file under the data dir's keys folder (created 0600 on first use; one base64 key per line, newest first).

The database holds only `v1.<key id>.<...>` tokens bound to their subscription id, so a copy of the database
without the key reveals no secret, and a token moved onto another subscription does not open. Rotation: put a
new key first (setting or key file) and restart; on start-up the delivery worker re-seals every secret with the
newest key, after which the old keys can go.
"""

from __future__ import annotations

from pathlib import Path

from shared import keyring
from shared.keyring import KeyRing
from shared.settings import Settings


class WebhookSecrets(KeyRing):
    def __init__(self, keys: list[str]) -> None:
        super().__init__(keys, purpose="antq.notify.webhook_secret_key_id", key_name="webhook secret key")

    def seal_secret(self, secret: str, *, subscription_id: str) -> str:
        return self.seal(secret.encode("utf-8"), context=subscription_id)

    def open_secret(self, stored: str, *, subscription_id: str) -> str:
        """The signing secret of a subscription. A value stored before secrets were sealed is still in clear
        until the worker's start-up pass seals it (a replica of the old version may have written it)."""
        if not self.is_token(stored):
            return stored
        return self.open(stored, context=subscription_id).decode("utf-8")

    def current(self, stored: str, *, subscription_id: str) -> str:
        """`stored` as it should be stored now: sealed, with the newest key."""
        if not self.is_token(stored):
            return self.seal_secret(stored, subscription_id=subscription_id)
        return self.reseal(stored, context=subscription_id)


def key_file(settings: Settings) -> Path:
    return settings.data_dir / "keys" / "notify_webhook_secrets.keys"


def load_secrets(settings: Settings) -> WebhookSecrets:
    return WebhookSecrets(keyring.load_keys(settings.notify_secret_keys, key_file(settings)))
