-- Shops that installed storelink as a Shopify app (shopify_app/installations.py): each is a store.
-- `store` is the store id it was given at its first install and keeps on reinstall; `seq` orders
-- installs (mock mode serves each installed shop its own demo data by it). An uninstalled shop keeps
-- its row with `uninstalled_at` set; its tokens are deleted from oauth_tokens.
CREATE TABLE shopify_installations (
    shop            text PRIMARY KEY,
    store           text NOT NULL UNIQUE,
    scope           text NOT NULL DEFAULT '',
    installed_at    double precision NOT NULL,
    uninstalled_at  double precision,
    seq             bigint GENERATED ALWAYS AS IDENTITY
);
