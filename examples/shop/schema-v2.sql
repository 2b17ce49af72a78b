-- The shop's content store at schema version 2.
--
-- What changed since v1 (the plan, plan.yaml, carries the data across):
--   content_items -> items         name -> title, kind -> category, created -> created_at,
--                                  new slug (computed from the name), legacy_flags gone
--   item_prices   -> item_pricing  one row per item (its pricing model), keyed by item_id;
--                                  pricing_model -> model; new currency (NOT NULL, no default:
--                                  the plan must supply it)
--   vending-a/b trial_settings -> item_trials
--                                  one trials value per item, from both vending databases
--   events                         happened -> occurred_at; new channel, filled by its DEFAULT
--   billing_infos                  amount (euros, REAL) -> amount_cents (INTEGER)
--   legacy_sessions                retired

CREATE TABLE items (
    id         INTEGER PRIMARY KEY,
    title      TEXT    NOT NULL,
    category   TEXT    NOT NULL CHECK (category IN ('ebook', 'video', 'audio', 'app', 'game')),
    created_at TEXT    NOT NULL,                 -- ISO-8601, UTC
    slug       TEXT    NOT NULL UNIQUE           -- URL path segment
);

CREATE TABLE item_pricing (
    item_id  INTEGER PRIMARY KEY REFERENCES items(id) ON DELETE CASCADE,
    model    TEXT    NOT NULL CHECK (model IN ('usage', 'subscription', 'first-download')),
    price    REAL    NOT NULL CHECK (price >= 0),
    currency TEXT    NOT NULL CHECK (length(currency) = 3)      -- ISO 4217
);

CREATE TABLE item_trials (
    item_id INTEGER PRIMARY KEY REFERENCES items(id) ON DELETE CASCADE,
    trials  INTEGER NOT NULL CHECK (trials > 0)  -- no row: the item has no trials
);

CREATE TABLE events (
    id          INTEGER PRIMARY KEY,
    item_id     INTEGER NOT NULL REFERENCES items(id),
    kind        TEXT    NOT NULL,
    occurred_at TEXT    NOT NULL,                -- ISO-8601, UTC
    payload     TEXT,                            -- JSON or NULL
    channel     TEXT    NOT NULL DEFAULT 'web'   -- v1 only sold through the web storefront
);

CREATE TABLE billing_infos (
    id           INTEGER PRIMARY KEY,
    item_id      INTEGER NOT NULL REFERENCES items(id),
    amount_cents INTEGER NOT NULL CHECK (amount_cents >= 0),
    billed_at    TEXT    NOT NULL,               -- ISO-8601, UTC
    invoice      TEXT    NOT NULL UNIQUE
);

CREATE INDEX item_pricing_model ON item_pricing (model);
CREATE INDEX events_item_time ON events (item_id, occurred_at);
