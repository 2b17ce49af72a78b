CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT);
INSERT INTO items VALUES (10, 'old ten'), (11, 'old eleven');
CREATE TABLE tags(t TEXT);
