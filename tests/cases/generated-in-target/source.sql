CREATE TABLE items(id INTEGER PRIMARY KEY, price INTEGER, qty INTEGER, total INTEGER);
-- total is stale in the source on row 2: the target recomputes it.
INSERT INTO items VALUES (1, 3, 4, 12), (2, 5, 5, 999);
