import * as path from 'node:path';
import ts from 'typescript';

/**
 * The named types of this package that the declarations exported by `entry` (a .d.ts) use, directly
 * or through other such types, and that `entry` does not export: each as "Type (used by Name)".
 */
export function unexportedTypes(entry: string): string[] {
  const program = ts.createProgram([entry], { noEmit: true, types: [] });
  const checker = program.getTypeChecker();
  const target = (s: ts.Symbol) => (s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s);
  const exported = new Set(checker.getExportsOfModule(checker.getSymbolAtLocation(program.getSourceFile(entry)!)!).map(target));
  const packageDir = path.dirname(path.resolve(entry)) + path.sep;
  const ours = (d: ts.Declaration) => path.resolve(d.getSourceFile().fileName).startsWith(packageDir);
  const seen = new Set<ts.Symbol>(exported);
  const missing: string[] = [];

  const visitSymbol = (found: ts.Symbol, user: string) => {
    const s = target(found);
    if (seen.has(s) || s.flags & ts.SymbolFlags.TypeParameter) return;
    seen.add(s);
    const declarations = (s.declarations ?? []).filter(ours);
    if (declarations.length === 0) return;
    if (!exported.has(s)) missing.push(`${s.name} (used by ${user})`);
    for (const d of declarations) visitNode(d, s.name);
  };
  const visitNode = (node: ts.Node, user: string): void => {
    if (ts.canHaveModifiers(node) && ts.getModifiers(node)?.some((m) => m.kind === ts.SyntaxKind.PrivateKeyword)) return;
    const name = referencedName(node);
    const s = name && checker.getSymbolAtLocation(name);
    if (s) visitSymbol(s, user);
    ts.forEachChild(node, (child) => visitNode(child, user));
  };
  for (const s of exported) for (const d of s.declarations ?? []) visitNode(d, s.name);
  return missing;
}

function referencedName(node: ts.Node): ts.Node | undefined {
  if (ts.isTypeReferenceNode(node)) return node.typeName;
  if (ts.isTypeQueryNode(node)) return node.exprName;
  if (ts.isExpressionWithTypeArguments(node)) return node.expression;
  if (ts.isImportTypeNode(node)) return node.qualifier;
  return undefined;
}
