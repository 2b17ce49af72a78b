SELECT id, name, channel, typeof(channel), score, typeof(score), memo, typeof(memo) FROM items ORDER BY id;
