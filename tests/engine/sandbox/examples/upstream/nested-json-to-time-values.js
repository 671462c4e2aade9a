export function transform(content, _source, _filename, _options) {
  const { JSONPath } = require('jsonpath-plus');
  const data = JSON.parse(content);

  const timestamps = JSONPath({ path: '$.records[*].header.ts', json: data });
  const tags = JSONPath({ path: '$.records[*].tag', json: data });
  const values = JSONPath({ path: '$.records[*].measurements.val', json: data });

  const timeValues = timestamps.map((ts, i) => ({
    pointId: tags[i],
    timestamp: ts,
    data: { value: String(values[i]) }
  }));

  return {
    data: JSON.stringify(timeValues),
    filename: `extracted_${Date.now()}.json`,
    numberOfElement: timeValues.length
  };
}
