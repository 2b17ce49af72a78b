CREATE TABLE kv(k TEXT PRIMARY KEY, v BLOB, n INTEGER) WITHOUT ROWID;
INSERT INTO kv VALUES ('a', x'00ff', 1), ('b', NULL, 2), ('c', 'text', NULL), ('é', 3.5, 4), ('', x'', 5);
CREATE TABLE pair(x INTEGER, y INTEGER, PRIMARY KEY (y, x)) WITHOUT ROWID;
INSERT INTO pair VALUES (1, 2), (2, 1), (-5, 0);
