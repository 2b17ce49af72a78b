SELECT id, typeof(id), title, typeof(title), category, typeof(category), price_cents, typeof(price_cents) FROM items ORDER BY id;
