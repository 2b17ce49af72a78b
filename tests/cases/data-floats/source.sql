-- x has no type (no affinity), so -0.0 keeps its sign in storage (a REAL column would
-- store it as the integer 0); r is REAL.
CREATE TABLE f(id INTEGER PRIMARY KEY, x, r REAL);
INSERT INTO f VALUES
  (1, -0.0, -0.0),
  (2, 1e308, 1e308),
  (3, 5e-324, 5e-324),
  (4, -1.7976931348623157e308, -1.7976931348623157e308),
  (5, 0.1, 0.1),
  (6, 2.2250738585072014e-308, 2.2250738585072014e-308),
  (7, 3.0, 3.0),
  (8, 1e999, -1e999);
