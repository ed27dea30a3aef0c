"""Lead complaints (F2): an agent files a complaint against a lead; compliance resolves it with a
resolution type and a resolution of that type; a contested complaint is disputed up an approval chain."""
