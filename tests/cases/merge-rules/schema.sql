CREATE TABLE machines(id INTEGER PRIMARY KEY, trials INTEGER, peak INTEGER, label TEXT, updated TEXT, sales INTEGER, revenue REAL);
