-- The intent the bot read in a customer's message at its turn, with the model then in use (the
-- fused one when the message was encoded): the hand-off summary lists earlier turns as they
-- were understood, not as a lexical re-read. '' = read, no intent (out of scope or nothing
-- confident); NULL = never read by the bot (agents' conversations, messages before this).
ALTER TABLE messages ADD COLUMN intent TEXT;
