-- Shopify webhook deliveries claimed by a replica (shopify_app/webhooks.py), so each is processed once
-- across replicas: the first INSERT wins, a redelivery finds the row. `done_at` is set once the work
-- succeeded; a claim left unfinished (its replica died) may be taken again after a while.
CREATE TABLE shopify_webhook_deliveries (
    id          text PRIMARY KEY,
    topic       text NOT NULL,
    shop        text NOT NULL,
    claimed_at  double precision NOT NULL,
    done_at     double precision
);
CREATE INDEX shopify_webhook_deliveries_claimed ON shopify_webhook_deliveries (claimed_at);
