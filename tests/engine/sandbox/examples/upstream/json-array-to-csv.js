export function transform(content, source, filename, options) {
  const Papa = require('papaparse');
  const rows = JSON.parse(content);

  const csv = Papa.unparse(
    rows.map(r => ({
      Timestamp: r.ts,
      Tag: r.id,
      Value: r.val
    })),
    { delimiter: ';', header: true }
  );

  return {
    data: csv,
    filename: `export_${filename.replace('.json', '.csv')}`,
    numberOfElement: rows.length
  };
}
