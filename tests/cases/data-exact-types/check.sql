-- atan2(0, x) is pi for -0.0 and 0 for 0.0: the only visible trace of the sign.
SELECT group_concat(name || ' ' || type, ', ') FROM pragma_table_info('m2');
SELECT id, d, typeof(d), atan2(0, d), f, typeof(f), atan2(0, f), n, typeof(n), u, typeof(u) FROM m2 ORDER BY id;
ATTACH 'source.db' AS s;
SELECT count(*) FROM (SELECT id, d, typeof(d), atan2(0, d), f, typeof(f), atan2(0, f), n, typeof(n), u, typeof(u) FROM s.m
  EXCEPT SELECT id, d, typeof(d), atan2(0, d), f, typeof(f), atan2(0, f), n, typeof(n), u, typeof(u) FROM main.m2);
