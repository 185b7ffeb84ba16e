"""The demo's shop database (the OLTP container): its checkout writes the traffic's orders through
the app's login, as the shop would; the ETL reads them back through the analytics login.

Both connect to the port the demo publishes on loopback, over TLS (the host's pg_hba accepts
nothing else from outside). Writing is idempotent: a re-run of `up` writes the same orders again
and changes nothing.
"""

from __future__ import annotations

import contextlib

from localplatform.demo import containers
from localplatform.demo.config import (
    OLTP_ANALYTICS_LOGIN,
    OLTP_CONTAINER,
    OLTP_DATABASE,
    SHOP_APP_LOGIN,
    DemoConfig,
    DemoError,
)
from localplatform.demo.state import read_secret

# A guest checks out under a guest account; the shop keeps no email for it (`.invalid`: RFC 2606).
UPSERT_USER_SQL = """
INSERT INTO users (user_id, email) VALUES (%(user_id)s, %(user_id)s || '@guest.shop.invalid')
ON CONFLICT (user_id) DO NOTHING
"""
INSERT_ORDER_SQL = """
INSERT INTO orders (order_id, user_id, status, currency, total, created_at, updated_at)
VALUES (%(order_id)s, %(user_id)s, %(status)s, %(currency)s, %(total)s, %(created_at)s, %(created_at)s)
ON CONFLICT (order_id) DO NOTHING
"""
INSERT_ITEM_SQL = """
INSERT INTO order_items (order_id, product_id, quantity, unit_price)
VALUES (%(order_id)s, %(product_id)s, %(quantity)s, %(price)s)
ON CONFLICT (order_id, product_id) DO NOTHING
"""


def available() -> bool:
    """Whether the shop's host runs (step 2 configured it)."""
    state = containers.container_state(OLTP_CONTAINER)
    return bool(state and state[0])


def _connect(cfg: DemoConfig, user: str, secret: str):
    import psycopg2  # noqa: PLC0415 -- only the demo's shop steps need it

    return psycopg2.connect(host="127.0.0.1", port=cfg.oltp_port, dbname=OLTP_DATABASE, user=user,
                            password=read_secret(cfg.secrets_dir / secret), sslmode="require",
                            connect_timeout=10)


def write_orders(cfg: DemoConfig, orders: list[dict]) -> int:
    """Write the orders (and their buyers' accounts) in one transaction; returns how many are new."""
    import psycopg2  # noqa: PLC0415

    try:
        with contextlib.closing(_connect(cfg, SHOP_APP_LOGIN, "oltp_shop_app")) as conn, conn, \
                conn.cursor() as cur:
            new = 0
            for order in orders:
                cur.execute(UPSERT_USER_SQL, order)
                cur.execute(INSERT_ORDER_SQL, order)
                new += cur.rowcount
                for item in order["items"]:
                    cur.execute(INSERT_ITEM_SQL, {"order_id": order["order_id"], **item})
            return new
    except psycopg2.Error as exc:
        raise DemoError(f"writing the shop's orders to {OLTP_CONTAINER} (127.0.0.1:{cfg.oltp_port}, "
                        f"login {SHOP_APP_LOGIN}) failed: {str(exc).strip()}") from exc


def etl_env(cfg: DemoConfig) -> dict[str, str]:
    """The ETL's OLTP_* settings (the analytics login), as the Lambda gets them; `OLTP_PASSWORD`
    is the local stand-in for the SecureString parameter."""
    return {"OLTP_HOST": "127.0.0.1", "OLTP_PORT": str(cfg.oltp_port), "OLTP_DATABASE": OLTP_DATABASE,
            "OLTP_USER": OLTP_ANALYTICS_LOGIN,
            "OLTP_PASSWORD": read_secret(cfg.secrets_dir / "oltp_analytics_reader")}
