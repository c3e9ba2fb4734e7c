/** Placeholder until the page is written. */
export function UsersPage() {
  return <section><h1>UsersPage</h1></section>;
}
