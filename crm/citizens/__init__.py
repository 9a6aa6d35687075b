"""Citizens who sign in with SPID or CIE (OpenID Connect): the verified identity, the link to their contact, the
server-side sessions of the sportello digitale. The pages live in ``crm/sportello``; this package has no routes."""
