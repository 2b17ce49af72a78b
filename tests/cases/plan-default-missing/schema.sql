CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT, currency TEXT NOT NULL, stock INTEGER NOT NULL, note TEXT DEFAULT 'target default');
