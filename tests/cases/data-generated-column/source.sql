CREATE TABLE items(id INTEGER PRIMARY KEY, price INTEGER, qty INTEGER, total INTEGER GENERATED ALWAYS AS (price * qty) STORED, label TEXT AS (upper(name)) VIRTUAL, name TEXT);
INSERT INTO items(id, price, qty, name) VALUES (1, 3, 4, 'abc'), (2, NULL, 2, NULL), (3, 10, 0, 'Zé');
