// "Label: value" lines as web forms and portals relay them ("Vorname: Sabine", "PLZ / Ort: 04229
// Leipzig"). Taken only when at least two such lines appear, so a single "Name:" in prose does not
// count as a form. Pure.

export type FormKey = 'name' | 'firstname' | 'lastname' | 'company' | 'email' | 'phone' | 'street' | 'houseNumber' | 'postalCode' | 'city' | 'postalCity';

const KEYS: Record<string, FormKey> = {};
const define = (key: FormKey, labels: string): void => {
  for (const label of labels.split(' ')) KEYS[label] = key;
};
define('name', 'name vollständigername fullname ihrname yourname kontaktperson ansprechpartner ansprechpartnerin contactperson customer customername kunde kundin kundenname absender');
define('firstname', 'vorname firstname givenname forename');
define('lastname', 'nachname familienname lastname surname familyname');
define('company', 'firma unternehmen company firmenname companyname organisation organization');
define('email', 'email emailadresse mail mailadresse emailaddress ihreemailadresse');
define('phone', 'telefon tel telefonnummer phone phonenumber mobil mobilnummer handy handynummer mobile rückrufnummer');
define('street', 'straße strasse straßehausnummer strassehausnummer straßehausnr strassehausnr straßenr street streetaddress adresse anschrift address lieferadresse verbrauchsstelle lieferstelle');
define('houseNumber', 'hausnummer hausnr housenumber');
define('postalCode', 'plz postleitzahl postcode zip zipcode postalcode');
define('city', 'ort wohnort stadt city town');
define('postalCity', 'plzort postleitzahlort plzstadt postcodecity');

const FORM_LINE = /^(\p{L}[\p{L} ./-]{0,30}?)[ \t]*:[ \t]*(\S.*)$/u;
const EMPTY = /^(?:-+|[—–.]|n\/a|none|keine?|privat|private)$/i;

export interface FormField {
  value: string;
  line: number;
}

export function readFormFields(lines: readonly string[]): Partial<Record<FormKey, FormField>> {
  const fields: Partial<Record<FormKey, FormField>> = {};
  let count = 0;
  for (const [line, text] of lines.entries()) {
    const m = FORM_LINE.exec(text);
    if (!m) continue;
    const key = KEYS[(m[1] ?? '').toLowerCase().replace(/\P{L}/gu, '')];
    const value = (m[2] ?? '').trim();
    if (!key || EMPTY.test(value)) continue;
    count++;
    fields[key] ??= { value, line };
  }
  return count >= 2 ? fields : {};
}
