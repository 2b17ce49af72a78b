-- ferry's exact types (what it declares in SQLite for PostgreSQL's floats and decimals):
-- FLOAT8_BLOB and FLOAT4_BLOB have BLOB affinity, so -0.0 keeps its sign, and NaN is the
-- text 'NaN'; NUMERIC_TEXT has TEXT affinity, so a decimal keeps every digit.
CREATE TABLE m(id INTEGER PRIMARY KEY, d FLOAT8_BLOB, f FLOAT4_BLOB, n NUMERIC_TEXT(30,10), u NUMERIC_TEXT);
INSERT INTO m VALUES
  (1, -0.0, -0.0, '12345678901234567890.0123456789', '123456789012345678901234567890'),
  (2, 'NaN', 'NaN', '-0.0000000001', 'NaN'),
  (3, 1e999, -1e999, '0.0000000000', 'Infinity'),
  (4, 5e-324, 1.401298464324817e-45, NULL, '-0.000000000000000000000000000001'),
  (5, 0.1, 0.25, '-99999999999999999999.9999999999', '1.50'),
  (6, NULL, NULL, NULL, NULL);
