CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT);
INSERT INTO items VALUES (1, 'new one'), (2, 'new two'), (3, 'new three');
CREATE TABLE tags(t TEXT);
INSERT INTO tags VALUES ('a'), ('b');
