CREATE TABLE t(id INTEGER PRIMARY KEY, s TEXT, b BLOB, any_col);
INSERT INTO t VALUES
  (1, NULL, NULL, NULL),
  (2, '', x'', ''),
  (3, 'a' || char(0) || 'b', x'00', x'0000'),
  (4, 'x', x'610062000063', x''),
  (5, ' ', x'ff00ff', 'NULL');
