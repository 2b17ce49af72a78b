CREATE INDEX items_title ON items (id);
