-- One database per service, owned by the compose role (runs once, on the first start of an empty volume).
CREATE DATABASE units OWNER antq;
CREATE DATABASE tips OWNER antq;
CREATE DATABASE awards OWNER antq;
CREATE DATABASE notify OWNER antq;
CREATE DATABASE console OWNER antq;
