"""Quick replies (risposte rapide): texts that admins write once per ente, optionally for one topic, and operators
insert into the composer by typing ``/`` and a few letters of the shortcut."""
