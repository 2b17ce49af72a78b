-- Many small chunks (--chunk-rows 2, 3 readers): every key shape must split into ranges that
-- lose and repeat nothing.
CREATE TABLE gaps(id INTEGER PRIMARY KEY, v TEXT);
INSERT INTO gaps VALUES (-9223372036854775808, 'min'), (-5, 'a'), (0, 'b'), (1, 'c'), (2, 'd'), (1000, 'e'), (1001, 'f'), (9223372036854775807, 'max');
CREATE TABLE nullkey(k TEXT PRIMARY KEY, v INTEGER);
INSERT INTO nullkey VALUES (NULL, 1), (NULL, 2), ('a', 3), ('b', 4), (NULL, 5), ('', 6), ('c', 7);
CREATE TABLE wr(a TEXT, b INTEGER, c BLOB, PRIMARY KEY (a, b)) WITHOUT ROWID;
INSERT INTO wr VALUES ('x', 1, x'01'), ('x', 2, x'02'), ('x', 3, NULL), ('y', -1, x''), ('y', 0, x'00'), ('', 5, 'e'), ('z', 9223372036854775807, 'max'), ('é', 1, 'u');
CREATE TABLE wrmixed(k PRIMARY KEY, v) WITHOUT ROWID;
INSERT INTO wrmixed VALUES (1, 'int'), (1.5, 'real'), ('1', 'text'), (x'01', 'blob'), (-3, 'neg'), ('abc', 't2'), (2, 'int2');
CREATE TABLE dups(a INTEGER, b TEXT);
INSERT INTO dups VALUES (1, 'x'), (1, 'x'), (1, 'x'), (1, 'x'), (1, 'x'), (2, NULL), (2, NULL);
