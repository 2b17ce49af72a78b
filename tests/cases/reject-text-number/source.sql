CREATE TABLE codes(id INTEGER PRIMARY KEY, code TEXT, price TEXT);
INSERT INTO codes VALUES
  (1, '012', '1.5'),
  (2, '12', '1.50'),
  (3, 'abc', 'n/a'),
  (4, ' 7', '7.5'),
  (5, '1e3', '2.5'),
  (6, '', ''),
  (7, NULL, NULL),
  (8, '-0', '3.25'),
  (9, '42', '1e2'),
  (10, '-12', '-0.5'),
  (11, '+5', '0.25');
