SELECT id, quote(s), typeof(s), length(CAST(s AS BLOB)), hex(s), quote(b), typeof(b), length(b), quote(any_col), typeof(any_col) FROM t ORDER BY id;
ATTACH 'source.db' AS s;
SELECT count(*) FROM (SELECT id, typeof(s), hex(s), typeof(b), hex(b), typeof(any_col), hex(any_col) FROM s.t EXCEPT SELECT id, typeof(s), hex(s), typeof(b), hex(b), typeof(any_col), hex(any_col) FROM main.t);
