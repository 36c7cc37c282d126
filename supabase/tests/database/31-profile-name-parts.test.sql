-- public.profiles.given_name / family_name: users edit their own, nobody else's; anon nothing.
begin;
\ir _setup.psql
select plan(7);

select has_column('public', 'profiles', 'given_name', 'profiles has given_name');
select has_column('public', 'profiles', 'family_name', 'profiles has family_name');

select pg_temp.act_as('viewer');
select results_eq(
  $$update public.profiles set given_name = 'Nina', family_name = 'van Dijk'
    where id = auth.uid() returning given_name || ' ' || family_name$$,
  array['Nina van Dijk'],
  'a user sets their own given and family name'
);
select is_empty(
  format(
    'update public.profiles set family_name = %L where id = %L returning id',
    'Hacked', pg_temp.uid('operator')
  ),
  'a user cannot change someone else''s family name'
);
select throws_ok(
  $$update public.profiles set given_name = repeat('x', 101) where id = auth.uid()$$,
  '23514', null, 'a given name longer than 100 characters is refused'
);
reset role;

select pg_temp.act_as('anon');
select throws_ok(
  $$update public.profiles set given_name = 'x'$$,
  '42501', null, 'anon cannot change names'
);
reset role;

select results_eq(
  format('select family_name from public.profiles where id = %L', pg_temp.uid('operator')),
  array[null::text],
  'the other user''s family name is untouched'
);

select * from finish();
rollback;
