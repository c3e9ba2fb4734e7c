/** Placeholder until the page is written. */
export function EmailAccountEdit(_props: { id: number | null }) {
  return <section><h1>EmailAccountEdit</h1></section>;
}
