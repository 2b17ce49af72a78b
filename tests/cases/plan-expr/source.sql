CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT, price_cents INTEGER);
INSERT INTO items VALUES (1, 'Big Red Box', 1999), (2, 'small', 5), (3, NULL, NULL);
