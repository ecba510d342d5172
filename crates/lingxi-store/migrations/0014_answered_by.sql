-- Which computation of the bot's turn answered a customer's message: a random token all the
-- replies of one turn share. Storing a turn claims its message first, so when two nodes take
-- the same message's turn at once (both starting after a crash and finding it unanswered),
-- one turn is stored and the other is dropped whole. NULL = not answered by the bot yet.
ALTER TABLE messages ADD COLUMN answered_by TEXT;
