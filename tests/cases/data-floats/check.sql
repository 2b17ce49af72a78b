-- atan2(0, x) is pi for -0.0 and 0 for 0.0: the only visible trace of the sign.
SELECT id, x, typeof(x), printf('%!.17g', x), atan2(0, x), r, typeof(r), printf('%!.17g', r) FROM f ORDER BY id;
ATTACH 'source.db' AS s;
SELECT count(*) FROM (SELECT id, x, typeof(x), r, typeof(r) FROM s.f EXCEPT SELECT id, x, typeof(x), r, typeof(r) FROM main.f);
