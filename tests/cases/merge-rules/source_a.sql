CREATE TABLE machines(id INTEGER PRIMARY KEY, trial_count INTEGER, peak INTEGER, label TEXT, updated TEXT, sales INTEGER, revenue REAL);
INSERT INTO machines VALUES
  (1, 5, 10, 'a-one', 'a1', 100, 1.5),
  (2, 9,  3, 'a-two', 'a2',   7, 0.25),
  (3, 1,  1, 'a-three', 'a3', 1, 1.0);
