CREATE TABLE machines(id INTEGER PRIMARY KEY, trial_count INTEGER, peak INTEGER, label TEXT, updated TEXT, sales INTEGER, revenue REAL);
INSERT INTO machines VALUES
  (1, 3, 20, 'b-one', 'b1', 50, 2.25),
  (2, 12, 2, 'b-two', 'b2', -7, 0.5),
  (4, 4,  4, 'b-four', 'b4', 4, 4.0);
