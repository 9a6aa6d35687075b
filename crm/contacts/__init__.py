"""Citizens (contatti): identity data, phones, e-mails, channel identities, consents; search and merge."""
