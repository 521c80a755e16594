-- The demo's sample application: a small multi-tenant invoicing app, the kind of schema pgwarden
-- protects. Tenants own users, projects and invoices; some columns are sensitive (personal data,
-- tax ids, bank details) and later capabilities encrypt, audit and confine them.
create schema app;

create table app.tenants (
  id          uuid primary key default gen_random_uuid(),
  name        text not null unique,
  plan        text not null default 'standard',
  created_at  timestamptz not null default now()
);

create table app.users (
  id          uuid primary key default gen_random_uuid(),
  tenant_id   uuid not null references app.tenants (id),
  email       text not null unique,           -- sensitive: personal data
  full_name   text not null,                  -- sensitive: personal data
  phone       text,                           -- sensitive: personal data
  role        text not null default 'member' check (role in ('owner', 'admin', 'member')),
  created_at  timestamptz not null default now()
);

create table app.projects (
  id          uuid primary key default gen_random_uuid(),
  tenant_id   uuid not null references app.tenants (id),
  name        text not null,
  owner_id    uuid not null references app.users (id),
  created_at  timestamptz not null default now()
);

create table app.invoices (
  id               uuid primary key default gen_random_uuid(),
  tenant_id        uuid not null references app.tenants (id),
  project_id       uuid not null references app.projects (id),
  number           text not null,
  amount_cents     bigint not null check (amount_cents >= 0),
  currency         text not null default 'EUR',
  customer_tax_id  text,                      -- sensitive: tax identifier
  iban             text,                      -- sensitive: bank account
  status           text not null default 'open' check (status in ('open', 'paid', 'void')),
  issued_at        timestamptz not null default now(),
  unique (tenant_id, number)
);
create index on app.users (tenant_id);
create index on app.projects (tenant_id);
create index on app.invoices (tenant_id);

-- Two tenants, so isolation has something to isolate.
insert into app.tenants (id, name, plan) values
  ('00000000-0000-4000-8000-00000000000a', 'Acme Corp', 'enterprise'),
  ('00000000-0000-4000-8000-00000000000b', 'Globex Ltd', 'standard');

insert into app.users (id, tenant_id, email, full_name, phone, role) values
  ('00000000-0000-4000-8000-0000000000a1', '00000000-0000-4000-8000-00000000000a', 'alice@acme.example', 'Alice Anders', '+44 20 7946 0001', 'owner'),
  ('00000000-0000-4000-8000-0000000000a2', '00000000-0000-4000-8000-00000000000a', 'arthur@acme.example', 'Arthur Ames', '+44 20 7946 0002', 'member'),
  ('00000000-0000-4000-8000-0000000000b1', '00000000-0000-4000-8000-00000000000b', 'bob@globex.example', 'Bob Brandt', '+49 30 901820', 'owner'),
  ('00000000-0000-4000-8000-0000000000b2', '00000000-0000-4000-8000-00000000000b', 'bea@globex.example', 'Bea Berg', null, 'admin');

insert into app.projects (id, tenant_id, name, owner_id) values
  ('00000000-0000-4000-8000-000000000a01', '00000000-0000-4000-8000-00000000000a', 'Rocket skates', '00000000-0000-4000-8000-0000000000a1'),
  ('00000000-0000-4000-8000-000000000b01', '00000000-0000-4000-8000-00000000000b', 'Hammock district', '00000000-0000-4000-8000-0000000000b1');

insert into app.invoices (tenant_id, project_id, number, amount_cents, customer_tax_id, iban, status)
select t.tenant_id, t.project_id, t.prefix || '-' || lpad(g::text, 4, '0'), 10000 + g * 137,
       'VAT' || lpad((g * 7919)::text, 9, '0'), 'DE89 3704 0044 0532 0130 ' || lpad(g::text, 2, '0'),
       (array['open', 'paid', 'void'])[1 + g % 3]
  from (values ('00000000-0000-4000-8000-00000000000a'::uuid, '00000000-0000-4000-8000-000000000a01'::uuid, 'ACME'),
               ('00000000-0000-4000-8000-00000000000b'::uuid, '00000000-0000-4000-8000-000000000b01'::uuid, 'GLBX')) as t(tenant_id, project_id, prefix),
       generate_series(1, 25) as g;
