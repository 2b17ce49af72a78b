CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT, price_cents INTEGER, label TEXT);
INSERT INTO items VALUES (1, 'alpha', 100, 'x'), (2, 'beta', NULL, NULL), (3, 'gamma', 0, '');
