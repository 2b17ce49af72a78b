#!/usr/bin/env bash
# generate.sh OUTDIR [ITEMS] [EVENTS]
#
# Writes the v1 "content store" of the shop demo, with the sqlite3 CLI only:
#   OUTDIR/catalog.db    content_items, item_prices (1-3 price rows per item, one pricing
#                        model each), events (EVENTS rows), billing_infos (EVENTS/10 rows:
#                        one per purchase, amounts in euros), legacy_sessions (retired in v2)
#   OUTDIR/vending-a.db  trial_settings: trials per item as vending database A sets them
#   OUTDIR/vending-b.db  trial_settings: the same for vending database B
#
# All values are deterministic: they come from an integer hash of the row's id (no RANDOM()),
# so two runs with the same arguments write the same rows.
set -euo pipefail

usage() {
    echo "usage: ${0##*/} OUTDIR [ITEMS] [EVENTS]   (defaults: 20000 items, 1000000 events)" >&2
    exit 2
}

[[ $# -ge 1 && $# -le 3 ]] || usage
out=$1
items=${2:-20000}
events=${3:-1000000}
[[ $items =~ ^[1-9][0-9]{0,8}$ && $events =~ ^[0-9]{1,9}$ ]] || usage
command -v sqlite3 >/dev/null || { echo "generate.sh: sqlite3 not found" >&2; exit 1; }

mkdir -p "$out"
for db in catalog vending-a vending-b; do
    rm -f "$out/$db.db" "$out/$db.db-journal" "$out/$db.db-wal" "$out/$db.db-shm"
done

# h X SALT: SQL expression, a pseudo-random integer in [0, 2^31-1) from the integer X.
# x*a+s mod p, squared mod p, mixed once more; every product stays below 2^63 (SQLite would
# otherwise turn it into a REAL).
h() {
    local a="((($1) * 2654435761 + $2 * 7919) % 2147483647)"
    printf '((((%s * %s) %% 2147483647) * 48271 + %s) %% 2147483647)' "$a" "$a" "$a"
}

fast='PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;'

# ---- catalog.db ---------------------------------------------------------------------------
sqlite3 -bail "$out/catalog.db" <<SQL >/dev/null
$fast
CREATE TABLE content_items (
    id           INTEGER PRIMARY KEY,
    name         TEXT    NOT NULL,
    kind         TEXT    NOT NULL CHECK (kind IN ('ebook', 'video', 'audio', 'app', 'game')),
    created      TEXT    NOT NULL,            -- ISO-8601, UTC
    legacy_flags INTEGER                      -- bits of the v0 importer, unused since 2021
);

CREATE TABLE item_prices (
    id            INTEGER PRIMARY KEY,
    item_id       INTEGER NOT NULL REFERENCES content_items(id) ON DELETE CASCADE,
    pricing_model TEXT    NOT NULL
                  CHECK (pricing_model IN ('usage', 'subscription', 'first-download')),
    price         REAL    NOT NULL CHECK (price >= 0)
);

CREATE TABLE events (
    id       INTEGER PRIMARY KEY,
    item_id  INTEGER NOT NULL REFERENCES content_items(id),
    kind     TEXT    NOT NULL,
    happened TEXT    NOT NULL,                -- ISO-8601, UTC
    payload  TEXT                             -- JSON or NULL
);

-- One billing record per purchase: v2 keeps the amount in cents.
CREATE TABLE billing_infos (
    id        INTEGER PRIMARY KEY,
    item_id   INTEGER NOT NULL REFERENCES content_items(id),
    amount    REAL    NOT NULL CHECK (amount >= 0),   -- euros
    billed_at TEXT    NOT NULL,                        -- ISO-8601, UTC
    invoice   TEXT    NOT NULL UNIQUE
);

-- Web sessions of the v1 storefront; v2 keeps them elsewhere, the migration leaves them behind.
CREATE TABLE legacy_sessions (
    id      INTEGER PRIMARY KEY,
    token   TEXT    NOT NULL UNIQUE,
    item_id INTEGER REFERENCES content_items(id),
    expires TEXT    NOT NULL
);

BEGIN;

WITH RECURSIVE
    seq(id) AS (SELECT 1 UNION ALL SELECT id + 1 FROM seq WHERE id < $items),
    adj(i, w) AS (VALUES (0,'Quiet'),(1,'Golden'),(2,'Hidden'),(3,'Electric'),(4,'Silent'),
                         (5,'Broken'),(6,'Northern'),(7,'Little'),(8,'Crimson'),(9,'Endless'),
                         (10,'Wild'),(11,'Paper'),(12,'Midnight'),(13,'Open'),(14,'Copper'),
                         (15,'Last')),
    noun(i, w) AS (VALUES (0,'Harbor'),(1,'Garden'),(2,'Signal'),(3,'Atlas'),(4,'Orchard'),
                          (5,'Engine'),(6,'River'),(7,'Lantern'),(8,'Circuit'),(9,'Meadow'),
                          (10,'Archive'),(11,'Compass'),(12,'Voyage'),(13,'Canvas'),
                          (14,'Summit'),(15,'Tide'))
INSERT INTO content_items (id, name, kind, created, legacy_flags)
SELECT seq.id,
       adj.w || ' ' || noun.w || ' ' || seq.id,
       CASE $(h seq.id 3) % 10
            WHEN 0 THEN 'game' WHEN 1 THEN 'app' WHEN 2 THEN 'audio' WHEN 3 THEN 'audio'
            WHEN 4 THEN 'video' WHEN 5 THEN 'video' ELSE 'ebook' END,
       strftime('%Y-%m-%dT%H:%M:%SZ', 1546300800 + seq.id * 3600 + $(h seq.id 4) % 3600,
                'unixepoch'),
       CASE WHEN $(h seq.id 5) % 3 = 0 THEN NULL ELSE $(h seq.id 6) % 16 END
FROM seq
JOIN adj  ON adj.i  = $(h seq.id 1) % 16
JOIN noun ON noun.i = $(h seq.id 2) % 16
ORDER BY seq.id;

-- Price rows: every item follows one of ten profiles (chosen by hash), written in slot order, so
-- the row ids within an item follow the slots. paid = 1: a price > 0, paid = 0: price 0.
-- The comment says which row the v2 rule picks (usage if > 0, else subscription if > 0, else
-- first-download).
WITH RECURSIVE
    seq(id) AS (SELECT 1 UNION ALL SELECT id + 1 FROM seq WHERE id < $items),
    profile(p, slot, model, paid) AS (VALUES
        (0, 1, 'usage', 1),                                                  -- usage
        (1, 1, 'first-download', 1), (1, 2, 'subscription', 1), (1, 3, 'usage', 1), -- usage, last
        (2, 1, 'usage', 0), (2, 2, 'subscription', 1),                       -- subscription
        (3, 1, 'subscription', 0), (3, 2, 'usage', 0), (3, 3, 'first-download', 0), -- f-d (free)
        (4, 1, 'usage', 0), (4, 2, 'subscription', 0),                       -- none: no row
        (5, 1, 'first-download', 1),                                         -- first-download
        (6, 1, 'first-download', 0), (6, 2, 'subscription', 1),              -- subscription
        (7, 1, 'subscription', 1), (7, 2, 'usage', 1),                       -- usage
        (8, 1, 'first-download', 1), (8, 2, 'first-download', 0),            -- the 1st f-d row
        (9, 1, 'subscription', 0), (9, 2, 'first-download', 1))              -- first-download
INSERT INTO item_prices (item_id, pricing_model, price)
SELECT seq.id, profile.model,
       CASE profile.paid WHEN 1 THEN round(0.49 + ($(h "seq.id * 4 + profile.slot" 7) % 2000) / 100.0, 2)
                         ELSE 0.0 END
FROM seq JOIN profile ON profile.p = $(h seq.id 8) % 10
ORDER BY seq.id, profile.slot;

-- Events: the big table. Times grow with the id (one event every ~30 s from 2021 on). Two hashes
-- per row, computed once (MATERIALIZED) and cut into fields.
WITH RECURSIVE
    seq(id) AS (SELECT 1 UNION ALL SELECT id + 1 FROM seq WHERE id < $events),
    r AS MATERIALIZED (SELECT id, $(h id 11) AS ha, $(h id 12) AS hb FROM seq)
INSERT INTO events (id, item_id, kind, happened, payload)
SELECT id,
       1 + ha % $items,
       CASE WHEN hb % 100 < 60 THEN 'view'
            WHEN hb % 100 < 85 THEN 'download'
            WHEN hb % 100 < 93 THEN 'purchase'
            WHEN hb % 100 < 98 THEN 'trial_start'
            ELSE 'refund' END,
       strftime('%Y-%m-%dT%H:%M:%SZ', 1609459200 + id * 30 + hb / 100 % 30, 'unixepoch'),
       CASE WHEN hb / 3000 % 4 = 0 THEN NULL
            ELSE '{"ms":' || (hb / 12000 % 5000) || ',"ref":"'
                 || CASE ha / 20000 % 3 WHEN 0 THEN 'search' WHEN 1 THEN 'home' ELSE 'mail' END
                 || '"}' END
FROM r;

WITH RECURSIVE seq(id) AS (SELECT 1 UNION ALL SELECT id + 1 FROM seq WHERE id < $events / 10)
INSERT INTO billing_infos (id, item_id, amount, billed_at, invoice)
SELECT id, 1 + $(h id 31) % $items, round(0.49 + ($(h id 32) % 2000) / 100.0, 2),
       strftime('%Y-%m-%dT%H:%M:%SZ', 1609459200 + id * 300 + $(h id 33) % 300, 'unixepoch'),
       printf('INV-%08d', id)
FROM seq;

WITH RECURSIVE seq(id) AS (SELECT 1 UNION ALL SELECT id + 1 FROM seq WHERE id < 100)
INSERT INTO legacy_sessions (id, token, item_id, expires)
SELECT id, printf('%08x%08x', $(h id 21), $(h id 22)),
       CASE WHEN id % 3 = 0 THEN NULL ELSE 1 + $(h id 23) % $items END,
       strftime('%Y-%m-%dT%H:%M:%SZ', 1640995200 + id * 86400, 'unixepoch')
FROM seq;

CREATE INDEX item_prices_item ON item_prices (item_id);
CREATE INDEX events_item_time ON events (item_id, happened);

COMMIT;
SQL

# ---- vending-a.db, vending-b.db -----------------------------------------------------------
# Each vending database knows ~85% of the items (so some are only in A, some only in B, some in
# neither); ~75% of its rows enable trials (1..10 trials). A row with trials disabled keeps a
# small stale count (0..2): a migration that forgets to ignore disabled rows picks it as the
# minimum and is caught by check.sh.
vending() {  # vending FILE SALT
    sqlite3 -bail "$1" <<SQL >/dev/null
$fast
CREATE TABLE trial_settings (
    item_id        INTEGER PRIMARY KEY,       -- content_items.id in catalog.db
    trials_enabled INTEGER NOT NULL CHECK (trials_enabled IN (0, 1)),
    trial_count    INTEGER NOT NULL CHECK (trial_count >= 0)
);
BEGIN;
WITH RECURSIVE seq(id) AS (SELECT 1 UNION ALL SELECT id + 1 FROM seq WHERE id < $items)
INSERT INTO trial_settings (item_id, trials_enabled, trial_count)
SELECT id,
       $(h id "$2 + 1") % 100 < 75,
       CASE WHEN $(h id "$2 + 1") % 100 < 75 THEN 1 + $(h id "$2 + 2") % 10
            ELSE $(h id "$2 + 2") % 3 END
FROM seq
WHERE $(h id "$2") % 100 < 85;
COMMIT;
SQL
}
vending "$out/vending-a.db" 100
vending "$out/vending-b.db" 200
