-- The target's own types win over the source's: price is NUMERIC here, TEXT in the source.
CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT NOT NULL, price NUMERIC);
CREATE UNIQUE INDEX items_name ON items(name);
