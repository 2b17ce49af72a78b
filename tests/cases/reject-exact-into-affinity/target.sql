-- The user's own REAL and NUMERIC columns: SQLite would store NaN as NULL, -0.0 as 0 and
-- round a decimal past 15 digits, so those rows are refused with their reason.
CREATE TABLE m(id INTEGER PRIMARY KEY, d REAL, f REAL, n NUMERIC, u TEXT);
