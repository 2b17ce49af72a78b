SELECT a, typeof(a), b, typeof(b), count(*) FROM log GROUP BY a, b ORDER BY a, b;
SELECT count(*) FROM log;
ATTACH 'source.db' AS s;
SELECT count(*) FROM (SELECT a, b, count(*) FROM main.log GROUP BY 1, 2 EXCEPT SELECT a, b, count(*) FROM s.log GROUP BY 1, 2);
