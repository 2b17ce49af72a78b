CREATE TABLE people(id INTEGER PRIMARY KEY, email TEXT, name TEXT, age INTEGER);
INSERT INTO people VALUES
  (1, 'a@x', 'ann', 30),
  (2, 'b@x', NULL, 40),
  (3, 'a@x', 'ann2', 31),
  (4, 'd@x', 'dan', -5),
  (5, 'e@x', 'eve', 50);
