CREATE TABLE countries(code TEXT PRIMARY KEY, name TEXT NOT NULL);
INSERT INTO countries VALUES ('FR', 'France'), ('JP', 'Japan');
CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT, country TEXT REFERENCES countries(code));
INSERT INTO customers VALUES (1, 'ann', 'FR'), (2, 'bob', 'JP'), (3, 'cy', NULL);
CREATE TABLE orders(id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customers(id), total INTEGER);
INSERT INTO orders VALUES (100, 1, 50), (101, 1, 70), (102, 3, 5);
