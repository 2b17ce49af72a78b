-- Tables are created children first, and the child's keys sort before the parent's, so
-- only ferry's foreign-key order makes the load valid.
CREATE TABLE a_child(id INTEGER PRIMARY KEY, parent_id INTEGER NOT NULL REFERENCES z_parent(id), note TEXT);
CREATE TABLE z_parent(id INTEGER PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE employee(id INTEGER PRIMARY KEY, name TEXT, manager_id INTEGER REFERENCES employee(id));
INSERT INTO z_parent VALUES (1, 'p1'), (2, 'p2');
INSERT INTO a_child VALUES (1, 2, 'c1'), (2, 1, 'c2'), (3, 2, NULL);
-- A manager with a larger id than the people under them.
INSERT INTO employee VALUES (1, 'ann', 3), (2, 'bob', 3), (3, 'cat', NULL), (4, 'dan', 4);
