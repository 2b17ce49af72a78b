SELECT name, type FROM pragma_table_info('t') ORDER BY cid;
SELECT id, a, typeof(a), b, typeof(b), c, typeof(c), d, typeof(d), e, typeof(e), f, typeof(f), g, typeof(g) FROM t ORDER BY id;
SELECT id, h, typeof(h), i, typeof(i), j, typeof(j), k, typeof(k), l, typeof(l), m, typeof(m), n, typeof(n) FROM t ORDER BY id;
-- the affinity itself: text '34' inserted now lands as each column's affinity says
INSERT INTO t VALUES (3, '34', '34', '34', '34', '34', '34', '34', '34', '34', '34', '34', '34', '34', '34');
SELECT typeof(a), typeof(b), typeof(c), typeof(d), typeof(e), typeof(f), typeof(g), typeof(h), typeof(i), typeof(j), typeof(k), typeof(l), typeof(m), typeof(n) FROM t WHERE id = 3;
